"""The distributed platform: the orchestrator (the Kafka driver of the study plan),
the result listener, the study API's logic and tenancy, and the one way every
service process starts (:func:`silico.platform.serve.run_service`)."""

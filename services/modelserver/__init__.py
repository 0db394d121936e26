"""The embedded CPU model server: a KServe custom model speaking the OpenAI completions API."""

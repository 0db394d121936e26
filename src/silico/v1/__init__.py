"""Generated from protos/silico/v1 by `make protos`; do not edit."""

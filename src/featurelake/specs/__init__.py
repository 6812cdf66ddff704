"""The spec language: YAML files -> typed models (with file:line) -> compiled registry."""

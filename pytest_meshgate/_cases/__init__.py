"""Case files: YAML with positions, the case and Istio models, loading, the schema, the catalogue.

The bottom of the pipeline (docs/architecture.md): everything above reads
validated ``LoadedCase`` objects, never YAML.
"""

"""One module per op (or op family); every module here is imported by the registry and
registers its emit functions with ``@register(...)``. See ``tinyml.codegen.aot``."""

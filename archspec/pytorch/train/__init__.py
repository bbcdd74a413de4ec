"""Training a compiled spec: the modules behind `archspec.train` (archspec/train/__init__.py lists them)."""

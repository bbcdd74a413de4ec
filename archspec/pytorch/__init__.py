"""The PyTorch backend, the only package that imports torch: code generation from each kind's PyTorch form
(codegen.py), the module (compile.py, module.py), `archspec check` (check.py), weight porting (weights.py)
and training (train/)."""

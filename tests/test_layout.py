"""The package's layout: imports run one way between the role packages, with no cycle, and
imports inside functions are kept for heavy optional dependencies."""

import ast
import os

import pytest

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "inpaint_jax")

# What each role may import from the package (besides itself): models and data know
# nothing of the method; the method (core) knows nothing of training or evaluation.
ALLOWED = {
    "configs": {"inpaint_jax"},
    "models": set(),
    "data": set(),
    "core": {"models", "data"},
    # What inference loads (model files, workdirs' newest readable step, `load_params`).
    "model_files": {"configs", "core", "data", "models"},
    "train": {"configs", "core", "data", "models", "model_files"},
    "evaluation": {"configs", "core", "data", "models", "model_files", "train"},
    "backend": {"models"},  # the probe times the DCGAN
    "commands": {"backend"},
    "serve": {"inpaint_jax", "configs", "core", "data", "model_files"},
    "cli": {"inpaint_jax", "configs", "core", "commands", "data", "evaluation", "model_files",
            "serve", "backend"},
}
HEAVY_OPTIONAL = {"tensorflow_datasets", "cv2", "matplotlib", "tensorboardX", "torch", "skimage"}
# Modules of the package that need an optional extra (`[serve]`): imported where used.
OPTIONAL_MODULES = {"inpaint_jax.serve", "inpaint_jax.serve.app"}


def _modules():
  for root, _, files in os.walk(PACKAGE):
    for name in files:
      if name.endswith(".py"):
        path = os.path.join(root, name)
        rel = os.path.relpath(path, os.path.dirname(PACKAGE))[:-3].replace(os.sep, ".")
        yield rel.removesuffix(".__init__"), path


def _imports(path):
  """(module imported, at top level?) for every import of a file."""
  tree = ast.parse(open(path).read())
  top = set(map(id, tree.body))
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module == "inpaint_jax":
      names = [f"inpaint_jax.{a.name}" for a in node.names]  # its modules, or ASSETS
    elif isinstance(node, ast.ImportFrom) and node.module:
      names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    else:
      continue
    for name in names:
      yield name, id(node) in top


def _role(module):
  parts = module.split(".")
  return parts[1] if len(parts) > 1 else "inpaint_jax"


def test_roles_import_one_way():
  bad = []
  for module, path in _modules():
    role = _role(module)
    if role not in ALLOWED:
      continue
    for name, _ in _imports(path):
      if not name.startswith("inpaint_jax"):
        continue
      target = _role(name)
      if target != role and target not in ALLOWED[role] and name != "inpaint_jax.ASSETS":
        bad.append(f"{module} imports {name}")
  assert not bad, bad


def test_no_import_cycle():
  known = dict(_modules())
  graph = {m: {n for n, _ in _imports(p) if n in known and n != m} for m, p in known.items()}
  state = {}

  def visit(m, stack):
    if state.get(m) == "done":
      return
    if state.get(m) == "open":
      pytest.fail(f"import cycle: {' -> '.join(stack + [m])}")
    state[m] = "open"
    for n in sorted(graph[m]):
      visit(n, stack + [m])
    state[m] = "done"

  for m in sorted(graph):
    visit(m, [])


def test_deferred_imports_only_for_heavy_optional_dependencies():
  bad = [f"{m}: {n}" for m, p in _modules() for n, top in _imports(p)
         if not top and n.split(".")[0] not in HEAVY_OPTIONAL and n not in OPTIONAL_MODULES]
  assert not bad, bad


def test_nothing_outside_train_imports_train_to_load_a_model():
  """Inference code (core, evaluation's loading, serve, the CLI, the experiments that
  inpaint) reads models through `model_files`; train/ is imported only to train, and by
  export_model.py, which turns a training run into a model file."""
  root = os.path.dirname(PACKAGE)
  bad = []
  for folder in ("experiments", "benchmarks"):
    for name in sorted(os.listdir(os.path.join(root, folder))):
      if name.endswith(".py") and not name.startswith(("train_", "export_", "lib")):
        path = os.path.join(root, folder, name)
        bad += [f"{folder}/{name}: {n}" for n, _ in _imports(path)
                if n.startswith("inpaint_jax.train")]
  for module, path in _modules():
    if _role(module) in ("serve", "cli", "model_files", "core"):
      bad += [f"{module}: {n}" for n, _ in _imports(path) if n.startswith("inpaint_jax.train")]
  assert not bad, bad

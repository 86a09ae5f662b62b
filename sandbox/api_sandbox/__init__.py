"""api-sandbox: local fakes of the CRM, projects and leads APIs (faithful, controllable, fast)."""

from .apis import APIS, ResourceSpec
from .faults import Fault, parse_fault_spec
from .server import Sandbox, run_sandbox

__all__ = ["APIS", "Fault", "ResourceSpec", "Sandbox", "parse_fault_spec", "run_sandbox"]

"""api-sandbox: local fakes of the CRM, projects and leads APIs (faithful, controllable, fast)."""

from .apis import APIS, ResourceSpec
from .drift import Drift, parse_drift_spec
from .faults import Fault, parse_fault_spec
from .launcher import SandboxProcess, SandboxStartError
from .proxy import run_proxy
from .server import Sandbox, SandboxOptions, run_sandbox

__all__ = [
    "APIS",
    "Drift",
    "Fault",
    "ResourceSpec",
    "Sandbox",
    "SandboxOptions",
    "SandboxProcess",
    "SandboxStartError",
    "parse_drift_spec",
    "parse_fault_spec",
    "run_proxy",
    "run_sandbox",
]

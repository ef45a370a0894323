"""The Jupyter server extension: Cognito sign-in and the REST API over the service.

Server-side code only (tornado, jupyter_server); the kernel-side API lives in the package
root. Handlers are thin: they validate, call ``PromptTesterService`` off the event loop, and
map the package's errors to status codes.
"""

from .extension import PromptTester

__all__ = ["PromptTester"]

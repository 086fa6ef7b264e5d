"""The kernel submissions are graded in: a plain ipykernel, started through ``autograder``.

``python -m autograder.kernel -f CONNECTION_FILE`` imports the ``autograder`` package first, which
marks the slow optional imports of :data:`autograder.SKIPPED_IMPORTS` absent (see there), then
runs ipykernel exactly as ``python -m ipykernel_launcher`` does. :class:`GradingKernelManager`
starts it in place of ``ipykernel_launcher``; the worker passes it to nbclient.
"""
from __future__ import annotations

from jupyter_client.manager import AsyncKernelManager


class GradingKernelManager(AsyncKernelManager):
    """Starts ``autograder.kernel`` where the kernel spec says ``ipykernel_launcher``."""

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        for i in range(len(cmd) - 1):
            if cmd[i] == "-m" and cmd[i + 1] == "ipykernel_launcher":
                cmd[i + 1] = "autograder.kernel"
        return cmd


if __name__ == "__main__":
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()

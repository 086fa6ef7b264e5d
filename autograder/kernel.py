"""The kernel submissions are graded in: an ipykernel started through ``autograder``, sandboxed.

``python -m autograder.kernel -f CONNECTION_FILE`` imports the ``autograder`` package first, which
marks the slow optional imports of :data:`autograder.SKIPPED_IMPORTS` absent (see there), takes
the notebook's folder off ``sys.path`` (a ``torchvision/`` folder written there must not shadow
the installed package), then runs ipykernel exactly as ``python -m ipykernel_launcher`` does.

:class:`GradingKernelManager` starts it in place of ``ipykernel_launcher``; the worker passes it
to nbclient and the nbgrader backend to nbgrader's executor. It talks to the kernel over IPC
sockets in a private folder (no TCP port another job could reach), and when the job's
environment says so (:data:`autograder.sandbox.SANDBOX_VAR`) starts the kernel inside
:func:`autograder.sandbox.bwrap_command` with only its own folder and that socket folder writable.
When the grading run has a warm interpreter (:data:`autograder.sandbox.WARM_VAR`), the same
sandbox is started and the kernel is forked into it from there (:mod:`autograder.warm_kernels`).
"""
from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager


def _socket_parent() -> str | None:
    """A short folder for the sockets (a Unix socket path has at most 107 bytes): the job's own."""
    from autograder.sandbox import SOCKETS_VAR

    return os.environ.get(SOCKETS_VAR) or ("/tmp" if os.access("/tmp", os.W_OK) else None)


class GradingKernelManager(AsyncKernelManager):
    """Starts ``autograder.kernel`` where the kernel spec says ``ipykernel_launcher``, over IPC,
    inside bubblewrap when the job is sandboxed."""

    _socket_dir: str = ""
    _warm: str = ""  # the warm interpreter's socket when kernels are forked from one

    async def _async_pre_start_kernel(self, **kw):
        from autograder.sandbox import SANDBOX_VAR, WARM_VAR

        self._sandboxed = os.environ.get(SANDBOX_VAR) == "bwrap"
        self._warm = os.environ.get(WARM_VAR, "") if self._sandboxed else ""
        self._socket_dir = tempfile.mkdtemp(prefix="cnn-kernel-", dir=_socket_parent())
        self.transport = "ipc"
        self.ip = os.path.join(self._socket_dir, "k")
        self.connection_file = os.path.join(self._socket_dir, "kernel.json")
        env = dict(kw.get("env") or os.environ)
        env["PYTHONSAFEPATH"] = "1"  # the notebook's folder is never ahead of installed packages
        kw["env"] = env
        return await super()._async_pre_start_kernel(**kw)

    def format_kernel_cmd(self, extra_arguments=None):
        from autograder.sandbox import bwrap_command
        from autograder.warm_kernels import HOLDER_ARGV

        cmd = super().format_kernel_cmd(extra_arguments)
        for i in range(len(cmd) - 1):
            if cmd[i] == "-m" and cmd[i + 1] == "ipykernel_launcher":
                cmd[i + 1] = "autograder.kernel"
        if not getattr(self, "_sandboxed", False):
            return cmd
        # A signal to bubblewrap does not reach the kernel in its own session: interrupt by message.
        self.kernel_spec.interrupt_mode = "message"
        cwd = Path(self._launch_args.get("cwd") or os.getcwd()).resolve()
        writable = [cwd, Path(self._socket_dir)]
        home = Path(os.environ.get("HOME", "")).resolve()
        if os.environ.get("HOME") and home.is_dir() and home != Path("/") and not home.is_relative_to(cwd):
            writable.append(home)  # the job's private home (Jupyter, IPython, matplotlib dirs)
        if self._warm:  # the same sandbox, holding its place until the warm kernel joins it
            self._warm_argv, self._warm_cwd, self._writable = cmd, cwd, writable
            return bwrap_command(list(HOLDER_ARGV), writable, cwd)
        return bwrap_command(cmd, writable, cwd)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        """Cold: as jupyter_client does. Warm: bubblewrap with the holder, then the kernel forked
        into its sandbox (:mod:`autograder.warm_kernels`)."""
        if not self._warm:
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        from autograder import warm_kernels  # here: the kernel's sandbox holds only this file of the grader's
        from autograder.sandbox import bwrap_command, sandbox_env

        place = warm_kernels.Place()
        try:
            await super()._async_launch_kernel(place.command(kernel_cmd), **{**kw, **place.popen_kw()})
        except BaseException:
            place.close()
            raise
        place.started()
        env = sandbox_env(kw.get("env") or dict(os.environ), self._warm_cwd)
        try:
            await asyncio.to_thread(place.fill, self._warm, self._warm_argv, env, str(self._warm_cwd))
        except (OSError, RuntimeError, ValueError, KeyError) as e:
            # The warm interpreter is gone or could not fork (out of processes or memory for a
            # moment): this kernel starts cold, in a sandbox of its own, as without one.
            print(f"warm kernel unavailable ({e}): starting it cold", file=sys.stderr, flush=True)
            await self.provisioner.kill()
            await self.provisioner.wait()
            cold = bwrap_command(self._warm_argv, self._writable, self._warm_cwd)
            await super()._async_launch_kernel(cold, **kw)
        except BaseException:
            await self.provisioner.kill()
            raise

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart and self._socket_dir:
            shutil.rmtree(self._socket_dir, ignore_errors=True)

    cleanup_resources = _async_cleanup_resources


def _safe_path() -> None:
    """Drop the current folder from ``sys.path`` (``python -m`` puts it first)."""
    cwd = os.getcwd()
    sys.path[:] = [p for p in sys.path if p not in ("", ".", cwd)]


if __name__ == "__main__":
    _safe_path()
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()

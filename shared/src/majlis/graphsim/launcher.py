"""Start and stop the simulator as a child process, for ``make run`` (``majlis.devrun``)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import urllib.request
from dataclasses import dataclass

from majlis.settings import Settings

_STARTUP_TIMEOUT = 30.0
_TAG = "\033[37m{:>14}\033[0m |".format("graphsim")


@dataclass
class SimulatorProcess:
    """A running simulator child and the task that copies its output."""

    url: str
    process: asyncio.subprocess.Process
    pipe: asyncio.Task[None]

    async def stop(self) -> None:
        """SIGTERM, wait (kill after 10 s), and drain its output."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        await asyncio.gather(self.pipe, return_exceptions=True)


def _healthy(url: str) -> bool:
    try:
        # The URL is ours: http://127.0.0.1:<port>/healthz built from settings.
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:  # noqa: S310
            return bool(response.status == 200)
    except OSError:
        return False


async def _pipe(process: asyncio.subprocess.Process) -> None:
    assert process.stdout is not None
    while line := await process.stdout.readline():
        sys.stdout.write(f"{_TAG} {line.decode(errors='replace')}")
        sys.stdout.flush()


async def start_simulator(settings: Settings) -> SimulatorProcess:
    """Start ``python -m majlis.graphsim`` and wait for its /healthz; raises RuntimeError."""
    url = f"http://127.0.0.1:{settings.graph_simulator_port}"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "majlis.graphsim",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=os.environ.copy(),
        start_new_session=True,  # Ctrl-C reaches the launcher, which stops us
    )
    child = SimulatorProcess(url, process, asyncio.create_task(_pipe(process)))
    deadline = asyncio.get_running_loop().time() + _STARTUP_TIMEOUT
    while not await asyncio.to_thread(_healthy, url):
        if process.returncode is not None or asyncio.get_running_loop().time() > deadline:
            await child.stop()
            raise RuntimeError(f"the Graph API simulator did not start on {url}")
        await asyncio.sleep(0.2)
    return child

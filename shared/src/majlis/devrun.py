"""`make run`: start the six services as local processes, print where each listens, and stop
them all cleanly on Ctrl-C (or when any of them dies)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import urllib.request
from dataclasses import dataclass

from majlis.graphsim.launcher import SimulatorProcess, start_simulator
from majlis.settings import ServiceName, load_settings

_COLOURS = ("36", "32", "33", "35", "34", "31")
_STARTUP_TIMEOUT = 60.0


@dataclass
class Child:
    service: ServiceName
    port: int
    process: asyncio.subprocess.Process
    colour: str


async def _pipe_output(child: Child) -> None:
    assert child.process.stdout is not None
    tag = f"\033[{child.colour}m{child.service.value:>14}\033[0m |"
    while line := await child.process.stdout.readline():
        sys.stdout.write(f"{tag} {line.decode(errors='replace')}")
        sys.stdout.flush()


def _ready(host: str, port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/readyz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


async def _wait_ready(host: str, children: list[Child]) -> None:
    deadline = asyncio.get_running_loop().time() + _STARTUP_TIMEOUT
    pending = list(children)
    while pending:
        for child in list(pending):
            if child.process.returncode is not None:
                raise RuntimeError(f"{child.service.value} exited during start-up")
            if await asyncio.to_thread(_ready, host, child.port):
                pending.remove(child)
        if asyncio.get_running_loop().time() > deadline:
            names = ", ".join(c.service.value for c in pending)
            raise RuntimeError(f"not ready after {_STARTUP_TIMEOUT:.0f} s: {names}")
        await asyncio.sleep(0.3)


async def _stop(children: list[Child]) -> None:
    for child in children:
        if child.process.returncode is None:
            child.process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.gather(*(c.process.wait() for c in children)), 15)
    except TimeoutError:
        for child in children:
            if child.process.returncode is None:
                child.process.kill()
        await asyncio.gather(*(c.process.wait() for c in children))


async def main_async() -> int:
    """Start, supervise and stop the platform."""
    settings = load_settings()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # With no Meta URL configured, the services talk to the local Graph API simulator.
    simulator: SimulatorProcess | None = None
    if not settings.graph_api_url:
        try:
            simulator = await start_simulator(settings)
        except RuntimeError as error:
            print(f"make run: {error}", file=sys.stderr)
            return 1
    children: list[Child] = []
    for index, service in enumerate(ServiceName):
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            service.value,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=os.environ.copy(),
            start_new_session=True,  # Ctrl-C reaches us, we stop them
        )
        children.append(Child(service, settings.port_for(service), process, _COLOURS[index]))
    pipes = [asyncio.create_task(_pipe_output(c)) for c in children]
    exit_code = 0
    try:
        await _wait_ready(settings.host, children)
        print("\nMajlis is running:")
        for child in children:
            print(f"  {child.service.value:<15} http://{settings.host}:{child.port}")
        if simulator is not None:
            print(f"  {'graph simulator':<15} {simulator.url}")
        print("Press Ctrl-C to stop.\n", flush=True)
        died = asyncio.create_task(
            asyncio.wait(
                [asyncio.create_task(c.process.wait()) for c in children],
                return_when=asyncio.FIRST_COMPLETED,
            )
        )
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait([died, stopping], return_when=asyncio.FIRST_COMPLETED)
        if not stop.is_set():
            print("a service exited; stopping the others", file=sys.stderr)
            exit_code = 1
        died.cancel()
        stopping.cancel()
    except RuntimeError as error:
        print(f"make run: {error}", file=sys.stderr)
        exit_code = 1
    print("stopping all services ...", flush=True)
    await _stop(children)
    if simulator is not None:
        await simulator.stop()
    await asyncio.gather(*pipes, return_exceptions=True)
    print("stopped.")
    return exit_code


def main() -> None:
    """Entry point of `python -m majlis.devrun`."""
    sys.exit(asyncio.run(main_async()))


if __name__ == "__main__":
    main()

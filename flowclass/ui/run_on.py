"""Run on...: the footer's say in where runs send their batches, this machine or a Dask cluster.

The same choice as ``flowclass ui --scheduler`` and ``FLOWCLASS_SCHEDULER``, made while the
canvas is open. It is shared by every tab of the server; a run that is going on keeps the
cluster it started with.
"""

from __future__ import annotations

from typing import Callable

from nicegui import run, ui

from ..executors import ExecutorChoice

TRUST_NOTE = ("Connect only to a cluster you run or trust: Dask workers and the scheduler "
              "exchange code and data with this canvas.")


def where(executors: ExecutorChoice) -> str:
    """``this machine`` or ``Dask tcp://host:8786 (3 workers)``, for the footer."""
    if not getattr(executors.current, "remote", False):
        return "this machine"
    described = executors.describe()
    workers = described.get("workers")
    return f"Dask {described['address']}" + (f" ({workers} worker{'s' * (workers != 1)})"
                                              if workers is not None else "")


class RunOnView:
    """``Runs on: this machine [Change]`` and its dialog. ``busy`` says whether this tab is
    running (the choice is then kept until the run ends)."""

    def __init__(self, executors: ExecutorChoice, busy: Callable[[], bool]):
        self.executors, self.busy = executors, busy
        ui.label("Runs on:")
        self.label = ui.label(where(executors)).classes("font-mono fc-runs-on")
        ui.button("Change", on_click=self.open).props("flat dense size=sm").mark("runs-on-change")
        self.dialog: ui.dialog | None = None

    def refresh(self) -> None:
        """Another tab may have switched: show what runs will use now."""
        self.label.text = where(self.executors)

    async def _back_to(self, before: str) -> None:
        try:
            await run.io_bound(self.executors.switch, before)
        except ValueError as exc:  # the cluster runs went to is gone meanwhile
            ui.notify(f"Cancelled, but runs cannot go back to {before}: {exc}", type="warning")
        else:
            ui.notify(f"Cancelled: runs still go to {where(self.executors)}", type="info")
        self.refresh()

    def open(self) -> None:
        if self.busy():
            ui.notify("Wait for the run to end (or cancel it) before changing where runs go",
                      type="warning")
            return
        remote = getattr(self.executors.current, "remote", False)
        if self.dialog is not None:  # the last one, closed: one dialog at a time
            self.dialog.delete()
        with ui.dialog().props("persistent") as dialog, ui.card().classes("w-[32rem]"):
            ui.label("Where runs send their work").classes("text-lg font-medium")
            ui.label("Embed, Predict, Classify Pixels and Import's checks can go to a Dask cluster "
                     "in batches; the graph, clustering and the cache stay here. The images must "
                     "be readable by the workers at the same path.").classes("text-sm text-gray-600")
            choice = ui.radio({"here": "This machine", "dask": "A Dask cluster"},
                              value="dask" if remote else "here").props("inline").mark("runs-on-choice")
            address = ui.input("Scheduler address", placeholder="tcp://HOST:8786, or local:4 for 4 workers here",
                               value=self.executors.describe()["address"] if remote else "") \
                .classes("w-full font-mono").mark("runs-on-address")
            address.bind_visibility_from(choice, "value", value="dask")
            ui.label(TRUST_NOTE).classes("text-xs text-gray-500").bind_visibility_from(
                choice, "value", value="dask")
            problem = ui.label().classes("text-sm text-red-700 fc-runs-on-problem")
            with ui.row().classes("w-full justify-end"):
                ui.button("Cancel", on_click=lambda: cancel()).props("flat").mark("runs-on-cancel")
                connect = ui.button("Use it").mark("runs-on-apply")
        connecting = {"now": False, "cancelled": False}

        def cancel() -> None:
            connecting["cancelled"] = connecting["now"]  # a connection under way is dropped once made
            dialog.close()

        async def apply() -> None:
            wanted = address.value.strip() if choice.value == "dask" else ""
            if choice.value == "dask" and not wanted:
                problem.text = "Give the scheduler's address, e.g. tcp://HOST:8786 or local:4"
                return
            problem.text = "Connecting…" if wanted else ""
            connect.disable()
            before = self.executors.describe()["address"] if getattr(self.executors.current, "remote", False) else ""
            connecting.update(now=True, cancelled=False)
            try:
                await run.io_bound(self.executors.switch, wanted)
            except ValueError as exc:  # unreachable or malformed: nothing changed
                problem.text = f"{exc} Or choose This machine."
                return
            finally:
                connecting["now"] = False
                connect.enable()
            if connecting["cancelled"]:  # Cancel was pressed meanwhile: where runs went stays
                await self._back_to(before)
                return
            self.refresh()
            dialog.close()
            ui.notify(f"Runs now go to {where(self.executors)}", type="positive")
            capped = getattr(self.executors.current, "warning", None)
            if capped:
                ui.notify(capped, type="warning", multi_line=True)

        connect.on_click(apply)
        self.dialog = dialog
        dialog.open()

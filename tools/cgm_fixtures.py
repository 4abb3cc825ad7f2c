"""Generates the CGM traces the remote-monitoring tests read (tests/fixtures/cgm/): 14 days of
glucose from the UVA/Padova Type 1 simulator's virtual patients, as `simglucose` ships them
(https://github.com/jxx123/simglucose; its patients' parameters are the simulator's published
cohort), seen through its GuardianRT-like sensor model (a reading every five minutes, with the
sensor's noise), under its basal-bolus controller and a random meal scenario with a fixed seed.

Run once, never in the suite (it simulates about a day in ten seconds); the traces are committed.
simglucose is not one of the project's dependencies: run it in a throwaway environment,

    uv venv /tmp/simg && VIRTUAL_ENV=/tmp/simg uv pip install simglucose==0.2.11 "setuptools<70"
    /tmp/simg/bin/python -m tools.cgm_fixtures

from the repository's root.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

PATIENTS = (("adult#001", 11), ("adolescent#003", 12))  # (virtual patient, seed)
DAYS = 14
START = datetime(2026, 11, 1, 0, 0)
OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "cgm"


def trace(name: str, seed: int) -> list[list[float]]:
    """(minutes since START, mg/dL) every five minutes."""
    from simglucose.actuator.pump import InsulinPump  # type: ignore[import-not-found]
    from simglucose.controller.basal_bolus_ctrller import BBController  # type: ignore[import-not-found]
    from simglucose.patient.t1dpatient import T1DPatient  # type: ignore[import-not-found]
    from simglucose.sensor.cgm import CGMSensor  # type: ignore[import-not-found]
    from simglucose.simulation.env import T1DSimEnv  # type: ignore[import-not-found]
    from simglucose.simulation.scenario_gen import RandomScenario  # type: ignore[import-not-found]
    from simglucose.simulation.sim_engine import SimObj  # type: ignore[import-not-found]

    env = T1DSimEnv(
        T1DPatient.withName(name),
        CGMSensor.withName("GuardianRT", seed=seed),
        InsulinPump.withName("Insulet"),
        RandomScenario(start_time=START, seed=seed),
    )
    simulation = SimObj(env, BBController(), timedelta(days=DAYS), animate=False, path=None)
    simulation.simulate()
    history = simulation.results()
    return [
        [round((at.to_pydatetime() - START).total_seconds() / 60), round(float(cgm), 1)]
        for at, cgm in zip(history.index, history["CGM"], strict=True)
    ]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, seed in PATIENTS:
        readings = trace(name, seed)
        document = {
            "source": "simglucose 0.2.11 (the UVA/Padova Type 1 simulator), GuardianRT sensor model, "
            "basal-bolus controller, RandomScenario",
            "patient": name,
            "seed": seed,
            "start": START.isoformat() + "Z",
            "days": DAYS,
            "readings": readings,  # [minutes since start, mg/dL]
        }
        path = OUT / f"{name.replace('#', '-')}.json"
        path.write_text(json.dumps(document, separators=(",", ":")) + "\n")
        print(f"{path}: {len(readings)} readings")


if __name__ == "__main__":
    main()

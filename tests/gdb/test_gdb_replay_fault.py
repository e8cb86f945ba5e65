"""A replay of a boot that triple-faulted (build/fault/triple-pf.img: an empty IDT, then a
#PF in the kernel): a forward run stops on the faulting instruction, the end of the
recording; forward moves are refused there (going on would shut the replay down, from
where QEMU 7.2 cannot seek), and a backward move goes back from it (issue 13)."""
import json
import subprocess

import pytest

from fjqemu.record import INFO
from replayrun import ROOT, record, replay_run


@pytest.fixture(scope="module")
def replay(build, tmp_path_factory):
    image = build / "fault" / "triple-pf.img"
    subprocess.run(["make", "-s", str(image.relative_to(ROOT))], cwd=ROOT, check=True,
                   capture_output=True, timeout=300)
    rec = record(build, tmp_path_factory.mktemp("record"), image,
                 ended="the guest triple-faulted")
    result = replay_run(build, rec, {"fault": True, "moves": 0,
                                     "kernel": str(build / "fault" / "kernel-triple-pf.elf")}, image=image)
    result["recording"] = json.loads((rec / INFO).read_text())
    return result


def test_continue_stops_on_the_faulting_instruction(replay):
    rec, at = replay["recording"], replay["fault_at"]
    assert rec["ended"] == "shutdown"
    assert at["count"] == rec["icount"]
    assert at["pc"] == rec["pc"]                        # where the recorded CPU shut down
    assert at["where"].startswith("fault_pf_unmapped"), at
    assert "triple-faults on this instruction" in replay["fault_cont"], replay["fault_cont"]


def test_forward_moves_are_refused_at_the_fault(replay):
    for k in ("fault_stepi", "fault_continue"):
        assert replay[k].startswith("ERROR") and "end of the recording" in replay[k], replay[k]
    assert replay["fault_after_refusal"]["count"] == replay["fault_at"]["count"]
    assert "shutdown" not in replay["fault_status"]
    assert "paused" in replay["fault_status"], replay["fault_status"]   # asked, and answered


def test_one_backward_move_from_the_fault(replay):
    assert "ERROR" not in replay["fault_back_out"], replay["fault_back_out"]
    assert replay["fault_back"]["count"] == replay["fault_at"]["count"] - 1
    assert replay["fault_back"]["pc"] != replay["fault_at"]["pc"]
    assert replay["fault_again"]["pc"] == replay["fault_at"]["pc"]      # and forward onto it
    assert replay["_qemu_status"] is None

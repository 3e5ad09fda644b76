"""ε-scheduling (Ngnawé et al.): clean inputs first, then a linear ramp of eps; the schedule's shape,
the training inputs in each phase, resume, run names and bad input."""
import pytest
import torch

from rftlib import RunConfig
from rftlib.core.errors import RftError
from rftlib.remedies.eps_schedule import EpsSchedule
from rftlib.training.objectives import make_objective, objective_options
from test_l2_sp import SMALL, batch, tiny
from training_helpers import tiny_config


def test_schedule_is_zero_then_a_linear_ramp_then_the_target():
    schedule = EpsSchedule(clean=0.2, ramp=0.4)  # of 10 steps: 2 clean, a ramp over 4, then the target
    assert [schedule.factor(t, 10) for t in range(10)] == [0, 0, 0, 0.25, 0.5, 0.75, 1, 1, 1, 1]
    assert EpsSchedule(clean=0.5, ramp=0.0).factor(5, 10) == 1.0 and EpsSchedule(0.5, 0).factor(4, 10) == 0.0


class Recorder(torch.nn.Module):
    """The model, recording every input it is given."""

    def __init__(self, model):
        super().__init__()
        self.model, self.inputs = model, []

    def forward(self, x):
        self.inputs.append(x.detach().clone())
        return self.model(x)


@pytest.mark.parametrize("name", ["pgd_at", "trades"])
def test_during_the_clean_phase_the_training_inputs_are_the_clean_inputs(name):
    eps = 8 / 255
    objective = make_objective(name, seed=0, eps=eps, steps=2, total_steps=10,
                               eps_schedule={"clean": 0.3, "ramp": 0.4})
    model, (images, labels) = Recorder(tiny()), batch()
    for step in (0, 2):  # clean phase: one forward pass, on the clean batch itself, no attack
        model.inputs.clear()
        loss, logits = objective(model, images, labels, step=step)
        assert len(model.inputs) == 1 and torch.equal(model.inputs[0], images)
        torch.testing.assert_close(loss, torch.nn.functional.cross_entropy(logits, labels))
    for step, factor in ((4, 0.25), (8, 1.0)):  # the ramp, then the target: attacked within eps_t
        model.inputs.clear()
        objective(model, images, labels, step=step)
        distance = (model.inputs[-1] - images).abs().max().item()  # both objectives' last forward is on x'
        assert 0 < distance <= factor * eps + 1e-6
        assert len(model.inputs) > 2  # the attack ran


def test_eps_schedule_is_checked_and_left_out_of_old_run_names():
    for objective in ("pgd_at", "trades"):
        assert "eps_schedule" not in objective_options(objective, eval_eps=1 / 255)
        plain = RunConfig.from_dict(tiny_config(objective=objective)).run_name()
        assert plain == RunConfig.from_dict(tiny_config(objective=objective, objective_options={})).run_name()
        scheduled = RunConfig.from_dict(tiny_config(objective=objective, objective_options={"eps_schedule": {}}))
        assert scheduled.resolved().objective_options["eps_schedule"] == {"clean": 0.1, "ramp": 0.3}
        assert scheduled.run_name() != plain
    with pytest.raises(RftError, match=r"^objective_options.eps_schedule needs an adversarial objective "
                                       r"\(pgd_at or trades\); objective is 'standard'$"):
        RunConfig.from_dict(tiny_config(objective_options={"eps_schedule": {"clean": 0.1}}))
    with pytest.raises(RftError, match=r"eps_schedule.clean must be a finite number in \[0, 1\], got 1.5"):
        RunConfig.from_dict(tiny_config(objective="pgd_at", objective_options={"eps_schedule": {"clean": 1.5}}))
    with pytest.raises(RftError, match=r"eps_schedule.clean \+ eps_schedule.ramp must be at most 1"):
        RunConfig.from_dict(tiny_config(objective="trades", objective_options={"eps_schedule": {"clean": 0.6,
                                                                                                 "ramp": 0.6}}))
    with pytest.raises(RftError, match=r"^eps_schedule applies to the run's objective \(objective_options\), not to lp_ft"):
        RunConfig.from_dict(tiny_config(lp_ft={"objective": "pgd_at", "objective_options": {"eps_schedule": {}}}))
    with pytest.raises(RftError, match=r"unknown eps_schedule key 'warmup' .*; valid: clean, ramp"):
        RunConfig.from_dict(tiny_config(objective="pgd_at", objective_options={"eps_schedule": {"warmup": 1}}))

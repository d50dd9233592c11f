"""The step budget both training loops share (``robench.budget``)."""
from robench.budget import StepBudget


def test_curve_points_fall_at_the_first_round_every_eval_every_steps_and_the_last():
    budget = StepBudget(steps=1000, eval_every=300)
    due = []
    while budget.running():
        due.append((budget.advance(130), budget.t_env))
    assert [t for d, t in due if d] == [130, 390, 650, 910, 1040]  # passes 0, 300, 600, 900, then the end
    assert budget.t_env == 1040 and not budget.out_of_time


def test_time_up_makes_the_curve_due_and_says_so():
    budget = StepBudget(steps=10**9, eval_every=10**9, max_wall_s=0.0)
    assert budget.advance(5) and budget.out_of_time  # the round that hit the limit gets its point
    assert StepBudget(steps=10, eval_every=5, max_wall_s=None).advance(1) is True

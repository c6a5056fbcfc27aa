"""Pipeline: the one place that knows the whole flow, and runs its steps in order."""

from profilo.pipeline.run import STEPS, StepResult, run_pipeline

__all__ = ["STEPS", "StepResult", "run_pipeline"]

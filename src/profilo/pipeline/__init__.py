"""Pipeline: the one place that knows the whole flow, and runs its steps in order."""

from profilo.pipeline.run import STEPS, StepResult, run_pipeline
from profilo.pipeline.schedule import PipelineSchedule

__all__ = ["STEPS", "PipelineSchedule", "StepResult", "run_pipeline"]

"""The main job, `vsa-np demo`: every part of the paper end to end on the shapes world."""
from vsa_np.demo.pipeline import DemoConfig, run_demo

__all__ = ["DemoConfig", "run_demo"]

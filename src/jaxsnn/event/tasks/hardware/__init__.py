"""Yin-Yang on BrainScaleS-2 and on its software mock (hardware-in-the-loop training)."""

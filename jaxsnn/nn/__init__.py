"""flax.nnx spiking layers, readouts and the config-built classifier network."""

from jaxsnn.nn.layers import LIFConv, LIFDense, LIFRecurrent
from jaxsnn.nn.network import OUTPUT_LAYER, ConvSpec, SpikingClassifier, SpikingOutput
from jaxsnn.nn.neuron import Hyper, LIFNeurons, LIFSpec, SurrogateState
from jaxsnn.nn.readout import MEMBRANE_READOUTS, READOUTS, LeakyIntegrator

__all__ = [
    "MEMBRANE_READOUTS",
    "OUTPUT_LAYER",
    "READOUTS",
    "ConvSpec",
    "Hyper",
    "LIFConv",
    "LIFDense",
    "LIFNeurons",
    "LIFRecurrent",
    "LIFSpec",
    "LeakyIntegrator",
    "SpikingClassifier",
    "SpikingOutput",
    "SurrogateState",
]

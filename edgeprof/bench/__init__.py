"""The bench stage: llama.cpp's speed, memory, power and (later) accuracy on this device."""

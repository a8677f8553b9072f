"""ipywidgets panels for the notebooks. Each panel's drawing/computing logic is a plain, unit-tested function;
the panel only wires sliders and dropdowns to it. foundations: lessons 0-3; imm: lessons 4-7."""

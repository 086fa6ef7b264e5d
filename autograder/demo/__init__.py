"""The bundled demo class: ``python -m autograder.demo.make_demo`` regenerates it from the masters."""

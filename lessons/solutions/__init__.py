"""Worked solutions of the lessons' exercises, one module per lesson (lessonNN.py), each function
named as the stub it solves. `lessons/exercises.py` checks them against the library."""

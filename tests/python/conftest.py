import os
import sys

# The functions the spawned processes run live next to the tests.
sys.path.insert(0, os.path.dirname(__file__))

print("devices-bench: not yet")

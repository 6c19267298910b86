print("ternd")

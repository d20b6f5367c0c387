"""lcg.py: the fixed generator behind the real-program cases' generated inputs and requests, so
they never change between runs. Owns nothing else."""


class Lcg:
    """Knuth's MMIX linear congruential generator; below(n) uses its top bits."""

    def __init__(self, seed):
        self.state = seed

    def below(self, n):
        self.state = (self.state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        return (self.state >> 33) % n

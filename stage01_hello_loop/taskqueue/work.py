"""The work the loop does. Stage 1's job is the one from the seed: say hello."""


def do_the_work() -> str:
    return "Hello, World!"

"""The chat's thread count follows measured decode times: the faster option, re-timed now and then."""
from chatapp.engines.cpu import ThreadChoice, chat_thread_options, cores


def drive(choice, cost, steps):
    """Run `steps` single-token decodes whose time is cost(threads); return the thread counts used."""
    used, last = [], None
    for _ in range(steps):
        n = choice.next()
        if n == last:            # the first decode after a change is not timed (threads start)
            choice.timed(n, cost(n))
        used.append(n)
        last = n
    return used


def test_the_faster_option_is_used_and_the_other_probed_rarely():
    choice = ThreadChoice((1, 2))
    used = drive(choice, {1: 0.013, 2: 0.010}.get, 480)
    assert choice.best() == 2
    assert used[-200:].count(1) <= (200 // ThreadChoice.PROBE_EVERY + 1) * ThreadChoice.PROBE_TOKENS


def test_a_busy_core_moves_the_choice_and_it_comes_back():
    choice = ThreadChoice((1, 2))
    drive(choice, {1: 0.013, 2: 0.010}.get, 200)
    assert choice.best() == 2
    drive(choice, {1: 0.016, 2: 0.040}.get, 20)      # a picture starts rendering: two threads stall
    assert choice.best() == 1
    drive(choice, {1: 0.013, 2: 0.010}.get, 300)     # it is done
    assert choice.best() == 2


def test_a_fixed_setting_is_kept():
    assert chat_thread_options(3) == (3,)
    choice = ThreadChoice((3,))
    assert set(drive(choice, lambda n: 0.01, 50)) == {3}


def test_auto_offers_half_and_all_cores():
    assert chat_thread_options(0) == tuple(sorted({max(1, cores() // 2), cores()}))


def test_a_far_slower_option_is_probed_seldom():
    choice = ThreadChoice((1, 2))
    used = drive(choice, {1: 0.010, 2: 0.050}.get, 2000)   # two threads stall (another program's load)
    slow = used[10:].count(2)
    assert choice.best() == 1 and slow <= 2 * ThreadChoice.PROBE_TOKENS   # ~0.1% of the tokens, not 4%

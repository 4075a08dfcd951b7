OK_FORMAT = True

test = {   'all_or_nothing': True,
    'name': 'q1',
    'points': 3,
    'suites': [   {   'cases': [{'code': '>>> assert tuple(log_q(torch.zeros(3, 2), torch.zeros(5, 2), torch.zeros(5, 2)).shape) == (3,)\n', 'hidden': False, 'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}

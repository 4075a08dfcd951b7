OK_FORMAT = True

test = {   'all_or_nothing': True,
    'name': 'q3',
    'points': 3,
    'suites': [   {   'cases': [   {   'code': '>>> assert tuple(mixture_log_prob(torch.zeros(4), torch.zeros(4, 3), torch.zeros(4, 3), torch.zeros(4, 3)).shape) == (4,)\n',
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}

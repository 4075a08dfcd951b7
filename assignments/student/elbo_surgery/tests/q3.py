OK_FORMAT = True

test = {   'all_or_nothing': True,
    'name': 'q3',
    'points': 2,
    'suites': [   {   'cases': [{'code': '>>> assert tuple(kl_to_prior(torch.zeros(4, 2), torch.zeros(4, 2)).shape) == (4,)\n', 'hidden': False, 'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}

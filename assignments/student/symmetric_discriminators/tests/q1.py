OK_FORMAT = True

test = {   'all_or_nothing': True,
    'name': 'q1',
    'points': 3,
    'suites': [   {   'cases': [{'code': '>>> assert tuple(Lambda.shape) == (3, 2) and tuple(Gamma.shape) == (3, 2) and (tuple(bias.shape) == (2,))\n', 'hidden': False, 'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}

OK_FORMAT = True

test = {   'all_or_nothing': True,
    'name': 'q2',
    'points': 2,
    'suites': [   {   'cases': [   {   'code': '>>> assert tuple(equivariant_layer(torch.zeros(2, 5, 3), torch.zeros(3, 4), torch.zeros(3, 4), torch.zeros(4)).shape) == (2, 5, 4)\n',
                                       'hidden': False,
                                       'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}

OK_FORMAT = True

test = {   'all_or_nothing': True,
    'name': 'q2',
    'points': 2,
    'suites': [   {   'cases': [   {'code': '>>> assert torch.is_tensor(mask) and tuple(mask.shape) == (6, 6)\n', 'hidden': False, 'locked': False},
                                   {'code': ">>> assert bool(((mask == 0) | (mask == 1)).all()), 'the mask must be binary'\n", 'hidden': False, 'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}

OK_FORMAT = True

test = {   'all_or_nothing': True,
    'name': 'q3',
    'points': 2,
    'suites': [   {   'cases': [{'code': '>>> assert torch.is_tensor(half_logdet_gram(torch.eye(3))) and half_logdet_gram(torch.eye(3)).dim() == 0\n', 'hidden': False, 'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}

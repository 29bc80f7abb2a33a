"""A scenario the sandbox cannot build is an infrastructure error (unscored, retried), never the agent's."""

import pytest

from runner.types import InfraError
from tests import episodes

pytestmark = pytest.mark.browser


def test_it_raises_infra_error_for_parameters_registration_would_refuse():
    # A scenario stored before parameters were checked reaches the runner with a value the task cannot use.
    with pytest.raises(InfraError, match="sandbox failed to build the scenario: parameter 'quantity'"):
        episodes.play(episodes.spec("oracle", "shop.purchase", params={"quantity": "two"}, max_steps=2))

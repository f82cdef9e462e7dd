from . import (
    test_capture,
    test_capture_corpus,
    test_capture_policy,
    test_google,
    test_hostile_html,
    test_install,
    test_microsoft,
    test_profile_tour,
    test_profiles,
    test_security,
    test_send,
    test_settings_tour,
)

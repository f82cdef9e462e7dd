from . import (
    test_capture,
    test_capture_corpus,
    test_google,
    test_install,
    test_mailbox_status,
    test_mailbox_status_tour,
    test_microsoft,
    test_org_google,
    test_org_microsoft,
    test_profile_tour,
    test_profiles,
    test_send,
)

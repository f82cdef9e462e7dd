from . import test_install, test_profile_tour, test_profiles

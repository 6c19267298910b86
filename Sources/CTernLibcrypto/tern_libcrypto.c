#include "tern_libcrypto.h"

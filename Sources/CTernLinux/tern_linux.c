#include "tern_linux.h"

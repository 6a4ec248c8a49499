# Included by llama.cpp's CMakeLists right after its project() call (CMAKE_PROJECT_llama.cpp_INCLUDE,
# set by tools/build_llama.py): chatapp loads libllama, libggml* and libmtmd from Python and nothing
# else. llama-cpp-python forces llama.cpp's "common" library on (CACHE ... FORCE, so -DLLAMA_BUILD_COMMON=OFF
# cannot turn it off), but nothing in the Python package loads it, and with cpp-httplib it was 45% of the
# compile time. A normal variable set here shadows the forced cache entry for llama.cpp's directory.
set(LLAMA_BUILD_COMMON OFF)

# layers.cmake - the gateway's include arrows, checked before compiling.
#
#   cmake -DDIR=<gateway dir> -DLAYERS="role:dep,dep;..." -DSTAMP=<file>
#         -P layers.cmake
#
# Every .c and .h under DIR/<role>/ may include headers of its own role and
# of the roles listed for it; "ROOT:*" lets the files directly in DIR (the
# daemon) include every role. A header directly in DIR ("gateway/config.h")
# belongs to ROOT. Any other "gateway/..." include is an error that names
# the file, the line and the arrow it would add.
cmake_minimum_required(VERSION 3.18)

set(allowed_ROOT "*")
foreach(entry ${LAYERS})
  string(REPLACE ":" ";" parts "${entry}")
  list(GET parts 0 role)
  list(LENGTH parts n)
  if(n GREATER 1)
    list(GET parts 1 deps)
    string(REPLACE "," ";" deps "${deps}")
  else()
    set(deps "")
  endif()
  set(allowed_${role} ${deps})
  list(APPEND roles ${role})
endforeach()

set(errors "")
file(GLOB_RECURSE files RELATIVE ${DIR} ${DIR}/*.c ${DIR}/*.h)
foreach(f ${files})
  get_filename_component(sub ${f} DIRECTORY)
  if(sub STREQUAL "")
    set(role ROOT)
  else()
    set(role ${sub})
  endif()
  if(NOT role IN_LIST roles)
    string(APPEND errors "  ${f}: folder '${role}' is not a declared role\n")
    continue()
  endif()
  if(allowed_${role} STREQUAL "*")
    continue()
  endif()
  file(STRINGS ${DIR}/${f} lines REGEX "^#[ \t]*include[ \t]+\"gateway/")
  foreach(line ${lines})
    string(REGEX REPLACE ".*\"gateway/([^\"]+)\".*" "\\1" inc "${line}")
    if(inc MATCHES "/")
      string(REGEX REPLACE "/.*" "" target "${inc}")
    else()
      set(target ROOT)
    endif()
    if(target STREQUAL role OR target IN_LIST allowed_${role})
      continue()
    endif()
    string(APPEND errors
      "  gateway/${f} includes gateway/${inc}: ${role} -> ${target} is not an allowed arrow\n")
  endforeach()
endforeach()

if(errors)
  message(FATAL_ERROR "wrong-way includes (see gateway/CMakeLists.txt):\n${errors}")
endif()
if(STAMP)
  file(WRITE ${STAMP} "ok\n")
endif()

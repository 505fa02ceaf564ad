# Slicer checks the extension description; so does this stand-in.
foreach(var EXTENSION_HOMEPAGE EXTENSION_CATEGORY EXTENSION_CONTRIBUTORS EXTENSION_DESCRIPTION EXTENSION_ICONURL
    EXTENSION_SCREENSHOTURLS EXTENSION_DEPENDS)
  if("${${var}}" STREQUAL "")
    message(FATAL_ERROR "Extension description: ${var} is not set")
  endif()
endforeach()

package dev.burrow.api;

import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * Every error: {@code error} is the SCREAMING_SNAKE name the Freestyle types declare; {@code code} carries the same
 * value because the vendor SDK picks its error class from {@code code}; {@code description} repeats the
 * human-readable {@code message} because the SDK prints {@code description} for a code it has no class for
 * ({@code Unknown error code: <code> - <description>}).
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record ErrorBody(String error, String code, String message, String description, String vmId) {
    public static ErrorBody of(String error, String message, String vmId) {
        return new ErrorBody(error, error, message, message, vmId);
    }
}

package dev.burrow.server.http;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.util.Callback;

import com.fasterxml.jackson.core.JsonProcessingException;

import dev.burrow.api.ErrorBody;
import dev.burrow.core.error.ErrorCode;

/**
 * Errors Jetty raises before a request reaches Javalin (an illegal URI such as {@code %00}, a malformed
 * header) get the same {@code {error, code, message, description}} JSON body as every other failure, never an HTML page.
 */
final class JsonErrorHandler extends ErrorHandler {
    @Override
    protected void generateResponse(Request request, Response response, int code, String message, Throwable cause,
                                    Callback callback) {
        String error = ErrorCode.forStatus(code).name();
        String text = message == null || message.isBlank() ? "request rejected (HTTP " + code + ")" : message;
        byte[] body;
        try {
            body = Json.MAPPER.writeValueAsBytes(ErrorBody.of(error, text, null));
        } catch (JsonProcessingException e) {
            body = ("{\"error\":\"" + error + "\",\"code\":\"" + error + "\",\"message\":\"request rejected\"}")
                    .getBytes(StandardCharsets.UTF_8);
        }
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
        // Jetty drops the connection after rejecting a request at this level; saying so keeps clients
        // from sending their next request into the closing socket.
        response.getHeaders().put(HttpHeader.CONNECTION, "close");
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, body.length);
        response.write(true, ByteBuffer.wrap(body), callback);
    }
}
